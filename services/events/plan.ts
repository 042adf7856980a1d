// The shape every event handler returns: apply inside the event's transaction, or ignore with a reason.
import type { Tx } from '../../db/client.js'

export type EventPlan =
  | { kind: 'apply', apply: (tx: Tx) => Promise<void> }
  | { kind: 'ignore', reason: string }

export const ignore = (reason: string): EventPlan => ({ kind: 'ignore', reason })
