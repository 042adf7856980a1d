// How long a lease lives, by the job's type: the one place that decides it. Purchases and the admin and
// member routes get the extended TTL because their work does more. Whether a transaction.completed is a
// purchase is only known once its prices are read (step 4), so every transaction.completed gets it: a
// longer lease costs something only when its holder dies, and then only a longer wait for the retry.

export interface TtlPolicy {
  lockTtlSeconds: number
  lockTtlExtendedSeconds: number
}

export const EXTENDED_TTL_TYPES: ReadonlySet<string> = new Set(['transaction.completed', 'admin_boost', 'badge_purchase'])

/** Lock TTL in milliseconds for a job type (an event type, or an admin or member route's scope). */
export function lockTtlMs (type: string, policy: TtlPolicy): number {
  return (EXTENDED_TTL_TYPES.has(type) ? policy.lockTtlExtendedSeconds : policy.lockTtlSeconds) * 1000
}
