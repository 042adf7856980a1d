// How long a lock lives: purchases get the extended TTL because their handlers do more (DESIGN §2, step 1).

export interface TtlPolicy {
  lockTtlSeconds: number
  lockTtlExtendedSeconds: number
}

export const EXTENDED_TTL_TYPES: ReadonlySet<string> = new Set(['boost_purchase', 'badge_purchase'])

/** Lock TTL in milliseconds for an event whose `data.custom_data.type` is `customType` (anything, even absent). */
export function lockTtlMs (customType: unknown, policy: TtlPolicy): number {
  const extended = typeof customType === 'string' && EXTENDED_TTL_TYPES.has(customType)
  return (extended ? policy.lockTtlExtendedSeconds : policy.lockTtlSeconds) * 1000
}
