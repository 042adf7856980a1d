// Every SQL statement the service runs, listed once by name. A name always means one text (a test holds
// it to that), so Postgres may keep each as a prepared statement per connection (session pool mode).
// Parameters are named here and bound by name: `run(statements.eventFind, { event_id })`.
// The convergence rule that the subscription statements implement is in ARCHITECTURE.md, "Convergence".

export interface Statement<P extends string = string> {
  /** The prepared statement's name: `bw_` and the catalogue key. */
  readonly name: string
  readonly text: string
  /** The parameter names, in `$1..$n` order. */
  readonly params: readonly P[]
}

export type Values<S> = S extends Statement<infer P> ? Record<P, unknown> : never

function statement<const P extends readonly string[]> (
  name: string, params: P, build: (p: Record<P[number], string>) => string
): Statement<P[number]> {
  const placeholders = Object.fromEntries(params.map((param, i) => [param, `$${i + 1}`])) as Record<P[number], string>
  return { name: `bw_${name}`, text: build(placeholders).replace(/\s+/g, ' ').trim(), params }
}

// ---- The inbox record, the gate of every event's writes ------------------------------------------------

const RECORD = ['event_id', 'event_type', 'source', 'occurred_at', 'payload', 'reopen'] as const
type RecordParams = Record<typeof RECORD[number], string>

/**
 * The record CTE `rec`: inserts the event, or moves a row whose status is in `reopen` (only `failed`
 * for a delivery; `needs_review` and `ignored` too for a replay) to its new status. A final row, or a
 * concurrent transaction's insert of the same id once it commits, makes it return no row: every write
 * below reads `from rec`, so nothing else is written, no error is raised and the transaction goes on.
 */
const recordCte = (p: RecordParams, status: string, reason: string, from = '') => `
  rec as (
    insert into webhook_events as e
      (event_id, event_type, status, source, occurred_at, received_at, processed_at, attempts, reason, payload)
    select ${p.event_id}, ${p.event_type}, ${status}, ${p.source}, ${p.occurred_at}::timestamptz, now(), now(), 1, ${reason}, ${p.payload}::jsonb
    ${from}
    on conflict (event_id) do update
      set status = excluded.status, source = excluded.source, reason = excluded.reason,
          processed_at = excluded.processed_at, attempts = e.attempts + 1
      where e.status = any (${p.reopen}::text[])
    returning e.status, e.reason
  )`

// ---- Subscriptions: a snapshot and a payment, each with its own watermark ----------------------------

interface SubscriptionSide { status: string, at: string, id: string }

/** Whether the payment side is newer than the snapshot side (or there is no snapshot yet). */
const paymentIsNewer = (snap: SubscriptionSide, pay: SubscriptionSide) =>
  `(${pay.at} is not null and (${snap.at} is null or (${pay.at}, ${pay.id}) > (${snap.at}, ${snap.id})))`

/** The row's status, from whichever side is newer: a failed payment is past_due, a paid one active. */
const derivedStatus = (snap: SubscriptionSide, pay: SubscriptionSide) => `
  case when ${paymentIsNewer(snap, pay)}
    then case ${pay.status} when 'failed' then 'past_due' else 'active' end
    else ${snap.status} end`

/** 24 hours of grace from a failed payment, while no newer snapshot says otherwise than past_due. */
const derivedGrace = (snap: SubscriptionSide, pay: SubscriptionSide) => `
  case when ${pay.status} = 'failed' and (${paymentIsNewer(snap, pay)} or ${snap.status} = 'past_due')
    then ${pay.at} + interval '24 hours' end`

const stored = (side: 'snapshot' | 'payment', row: string): SubscriptionSide => side === 'snapshot'
  ? { status: `${row}.snapshot_status`, at: `${row}.last_event_at`, id: `${row}.last_event_id` }
  : { status: `${row}.payment_status`, at: `${row}.payment_at`, id: `${row}.payment_event_id` }

const SNAPSHOT = [...RECORD, 'subscription_id', 'community_id', 'customer_id', 'snapshot_status', 'tier', 'period_end'] as const

const PAYMENT_CTE = (p: Record<typeof RECORD[number] | 'subscription_id' | 'payment_status', string>) => {
  const incoming = { status: `${p.payment_status}::text`, at: `${p.occurred_at}::timestamptz`, id: `${p.event_id}::text` }
  const none = { status: 'null::text', at: 'null::timestamptz', id: 'null::text' }
  return `
  pay as (
    insert into subscriptions as s
      (id, status, tier, payment_status, payment_at, payment_event_id, grace_until, updated_at)
    select ${p.subscription_id}, ${derivedStatus(none, incoming)}, 'starter', ${incoming.status}, ${incoming.at}, ${incoming.id},
           ${derivedGrace(none, incoming)}, now()
    from rec
    on conflict (id) do update
      set payment_status = excluded.payment_status, payment_at = excluded.payment_at, payment_event_id = excluded.payment_event_id,
          status = ${derivedStatus(stored('snapshot', 's'), stored('payment', 'excluded'))},
          grace_until = ${derivedGrace(stored('snapshot', 's'), stored('payment', 'excluded'))},
          updated_at = now()
      where s.payment_at is null or (s.payment_at, s.payment_event_id) < (excluded.payment_at, excluded.payment_event_id)
  )`
}

// ---- Boosts bought at checkout: one row per paid boost price ------------------------------------------

const BOOST_CTE = (p: Record<typeof RECORD[number] | 'community_id' | 'member_id' | 'transaction_id' | 'currency_code' | 'items', string>) => `
  boost as (
    insert into boosts (community_id, member_id, months, source, transaction_id, price_id, amount, currency_code, created_at, expires_at)
    select ${p.community_id}, ${p.member_id}, i.months, 'purchase', ${p.transaction_id}, i.price_id, i.amount, ${p.currency_code},
           ${p.occurred_at}::timestamptz, i.expires_at
    from rec, jsonb_to_recordset(${p.items}::jsonb) as i (price_id text, months int, amount text, expires_at timestamptz)
    on conflict (transaction_id, price_id) do nothing
  )`

const BOOST = ['community_id', 'member_id', 'transaction_id', 'currency_code', 'items'] as const

export const statements = {
  // The inbox ------------------------------------------------------------------------------------------
  /** An event recorded with no writes of its own: `ignored` or `needs_review`. */
  eventRecord: statement('event_record', [...RECORD, 'status', 'reason'], (p) => `
    with ${recordCte(p, `${p.status}::text`, `${p.reason}::text`)}
    select status, reason from rec`),

  /** A failure of steps 3-5, kept for the next attempt (the transaction that failed wrote nothing). */
  eventFailed: statement('event_failed', [...RECORD, 'last_error'], (p) => `
    insert into webhook_events as e (event_id, event_type, status, source, occurred_at, received_at, attempts, last_error, payload)
    values (${p.event_id}, ${p.event_type}, 'failed', ${p.source}, ${p.occurred_at}::timestamptz, now(), 1, ${p.last_error}, ${p.payload}::jsonb)
    on conflict (event_id) do update
      set status = 'failed', source = excluded.source, attempts = e.attempts + 1, last_error = excluded.last_error
      where e.status = any (${p.reopen}::text[])`),

  eventFind: statement('event_find', ['event_id'], (p) => `
    select event_id, event_type, status, source, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at, received_at, processed_at,
           attempts, last_error, reason, payload
    from webhook_events where event_id = ${p.event_id}`),

  /** The operator's inbox, newest first; the cursor is the last row's (received_at, event_id). */
  eventList: statement('event_list', ['status', 'event_type', 'from', 'to', 'cursor_at', 'cursor_id', 'limit'], (p) => `
    select event_id, event_type, status, source, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at, received_at, received_at::text as received_at_key,
           processed_at, attempts, last_error, reason
    from webhook_events
    where (${p.status}::text is null or status = ${p.status})
      and (${p.event_type}::text is null or event_type = ${p.event_type})
      and (${p.from}::timestamptz is null or received_at >= ${p.from}::timestamptz)
      and (${p.to}::timestamptz is null or received_at < ${p.to}::timestamptz)
      and (${p.cursor_at}::timestamptz is null or (received_at, event_id) < (${p.cursor_at}::timestamptz, ${p.cursor_id}::text))
    order by received_at desc, event_id desc
    limit ${p.limit}`),

  /** What a bulk replay takes, oldest first. */
  eventReplayable: statement('event_replayable', ['statuses', 'event_type', 'from', 'to', 'limit'], (p) => `
    select event_id from webhook_events
    where status = any (${p.statuses}::text[])
      and (${p.event_type}::text is null or event_type = ${p.event_type})
      and (${p.from}::timestamptz is null or received_at >= ${p.from}::timestamptz)
      and (${p.to}::timestamptz is null or received_at < ${p.to}::timestamptz)
    order by received_at, event_id
    limit ${p.limit}`),

  /** The inbox gauges: rows that wait for someone, and how long the oldest has waited. */
  eventWaiting: statement('event_waiting', [], () => `
    select status, count(*)::int as count, extract(epoch from now() - min(received_at))::float8 as oldest_seconds
    from webhook_events where status in ('failed', 'needs_review') group by status`),

  // Event writes: the record gates each of them -----------------------------------------------------
  subscriptionSnapshot: statement('subscription_snapshot', SNAPSHOT, (p) => {
    const incoming = { status: `${p.snapshot_status}::text`, at: `${p.occurred_at}::timestamptz`, id: `${p.event_id}::text` }
    return `
    with ${recordCte(p, "'processed'", 'null')},
    snap as (
      insert into subscriptions as s
        (id, community_id, customer_id, snapshot_status, status, tier, current_period_end, last_event_at, last_event_id, grace_until, updated_at)
      select ${p.subscription_id}, ${p.community_id}, ${p.customer_id}, ${incoming.status}, ${incoming.status}, ${p.tier},
             ${p.period_end}::timestamptz, ${incoming.at}, ${incoming.id}, null, now()
      from rec
      on conflict (id) do update
        set community_id = excluded.community_id, customer_id = excluded.customer_id, snapshot_status = excluded.snapshot_status,
            tier = excluded.tier, current_period_end = excluded.current_period_end,
            last_event_at = excluded.last_event_at, last_event_id = excluded.last_event_id,
            status = ${derivedStatus(stored('snapshot', 'excluded'), stored('payment', 's'))},
            grace_until = ${derivedGrace(stored('snapshot', 'excluded'), stored('payment', 's'))},
            updated_at = now()
        where s.last_event_at is null or (s.last_event_at, s.last_event_id) < (excluded.last_event_at, excluded.last_event_id)
    )
    select status, reason from rec`
  }),

  /** A subscription's payment, and any boost prices paid with it. */
  subscriptionPayment: statement('subscription_payment', [...RECORD, 'subscription_id', 'payment_status', ...BOOST], (p) => `
    with ${recordCte(p, "'processed'", 'null')}, ${PAYMENT_CTE(p)}, ${BOOST_CTE(p)}
    select status, reason from rec`),

  boostPurchase: statement('boost_purchase', [...RECORD, ...BOOST], (p) => `
    with ${recordCte(p, "'processed'", 'null')}, ${BOOST_CTE(p)}
    select status, reason from rec`),

  /**
   * A paid badge completes the pending purchase named by custom_data.purchase_id when the member and
   * the badge of the paid price match it; otherwise the event is recorded needs_review with the reason
   * and nothing changes. The purchase row is locked for the decision, so two payments cannot both win.
   */
  badgePurchase: statement('badge_purchase', [...RECORD, 'purchase_id', 'member_id', 'badge_id', 'transaction_id'], (p) => `
    with target as (
      select member_id, badge_id, status, transaction_id from badge_purchases where id = ${p.purchase_id} for update
    ),
    verdict as (
      select case
        when t.member_id is null then 'custom_data.purchase_id: no purchase has this id'
        when t.member_id <> ${p.member_id}::text then 'custom_data.member_id: the purchase belongs to another member'
        when t.badge_id <> ${p.badge_id}::text then 'items: the paid price grants another badge than the purchase'
        when t.status = 'completed' and t.transaction_id is distinct from ${p.transaction_id}::text
          then 'custom_data.purchase_id: the purchase was completed by another transaction'
      end as reason
      from (select 1) as one left join target as t on true
    ),
    ${recordCte(p, "case when v.reason is null then 'processed' else 'needs_review' end", 'v.reason', 'from verdict as v')},
    done as (
      update badge_purchases
      set status = 'completed', transaction_id = ${p.transaction_id}, completed_at = ${p.occurred_at}::timestamptz
      where id = ${p.purchase_id} and status = 'pending' and exists (select 1 from rec where status = 'processed')
    )
    select status, reason from rec`),

  // Idempotency keys of the admin and member routes --------------------------------------------------
  idempotencyFind: statement('idempotency_find', ['key'], (p) => `
    select request_hash, status_code, response from idempotency_keys where key = ${p.key} and status_code > 0`),

  /** Claims a key in the effect's transaction; a concurrent claim waits, then finds it taken. */
  idempotencyClaim: statement('idempotency_claim', ['key', 'scope', 'request_hash'], (p) => `
    insert into idempotency_keys (key, scope, request_hash, status_code, response)
    values (${p.key}, ${p.scope}, ${p.request_hash}, 0, '{}'::jsonb)
    on conflict (key) do nothing
    returning key`),

  idempotencyAnswer: statement('idempotency_answer', ['key', 'status_code', 'response'], (p) => `
    update idempotency_keys set status_code = ${p.status_code}, response = ${p.response}::jsonb where key = ${p.key}`),

  // Admin grants, badge purchases ---------------------------------------------------------------------
  boostGrant: statement('boost_grant', ['community_id', 'member_id', 'months', 'reason', 'created_at', 'expires_at'], (p) => `
    insert into boosts (community_id, member_id, months, source, reason, created_at, expires_at)
    values (${p.community_id}, ${p.member_id}, ${p.months}, 'admin', ${p.reason}, ${p.created_at}, ${p.expires_at})
    returning id, community_id, member_id, months, source, transaction_id, price_id, reason, created_at, expires_at`),

  boostList: statement('boost_list', ['community_id', 'limit'], (p) => `
    select id, community_id, member_id, months, source, transaction_id, price_id, reason, created_at, expires_at
    from boosts where community_id = ${p.community_id}
    order by created_at desc, id desc limit ${p.limit}`),

  badgeOwned: statement('badge_owned', ['member_id', 'community_id', 'badge_id'], (p) => `
    select id from badge_purchases
    where member_id = ${p.member_id} and community_id = ${p.community_id} and badge_id = ${p.badge_id} and status = 'completed'
    limit 1`),

  badgeStart: statement('badge_start', ['id', 'member_id', 'community_id', 'badge_id', 'price_id'], (p) => `
    insert into badge_purchases (id, member_id, community_id, badge_id, price_id, status)
    values (${p.id}, ${p.member_id}, ${p.community_id}, ${p.badge_id}, ${p.price_id}, 'pending')`),

  // Retention: small batches, one replica at a time ---------------------------------------------------
  /** Taken at the start of each batch's transaction; released by its commit. */
  retentionLock: statement('retention_lock', ['key'], (p) => `select pg_try_advisory_xact_lock(${p.key}) as locked`),

  retentionEvents: statement('retention_events', ['before', 'batch'], (p) => `
    delete from webhook_events where event_id in (
      select event_id from webhook_events
      where status in ('processed', 'ignored') and received_at < ${p.before}::timestamptz
      order by received_at limit ${p.batch}
      for update skip locked)`),

  retentionKeys: statement('retention_keys', ['before', 'batch'], (p) => `
    delete from idempotency_keys where key in (
      select key from idempotency_keys where created_at < ${p.before}::timestamptz
      order by created_at limit ${p.batch}
      for update skip locked)`),

  // Reconciliation: the cursor in Paddle's event log and the lease of the replica paging through it ----
  // Every time is Postgres's own now(), so replicas whose clocks disagree still agree on who holds the lease.
  /** Takes the lease when it is free or expired (and, for a scheduled pass, the last pass is `min_gap_ms` old). */
  reconcileAcquire: statement('reconcile_acquire', ['name', 'owner', 'ttl_ms', 'min_gap_ms'], (p) => `
    insert into reconcile_state as r (name, lease_owner, lease_until, updated_at)
    values (${p.name}, ${p.owner}, now() + ${p.ttl_ms}::integer * interval '1 millisecond', now())
    on conflict (name) do update
      set lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
      where (r.lease_owner is null or r.lease_until < now())
        and r.updated_at <= now() - ${p.min_gap_ms}::integer * interval '1 millisecond'
    returning r.cursor`),

  reconcileRenew: statement('reconcile_renew', ['name', 'owner', 'ttl_ms'], (p) => `
    update reconcile_state set lease_until = now() + ${p.ttl_ms}::integer * interval '1 millisecond'
    where name = ${p.name} and lease_owner = ${p.owner} and lease_until >= now()
    returning 1 as renewed`),

  /** Moves the cursor forward only (ids compared byte by byte, as Paddle orders them), under the lease. */
  reconcileAdvance: statement('reconcile_advance', ['name', 'owner', 'cursor'], (p) => `
    update reconcile_state
      set cursor = case when cursor is null or cursor collate "C" < ${p.cursor}::text collate "C" then ${p.cursor}::text else cursor end,
          updated_at = now()
    where name = ${p.name} and lease_owner = ${p.owner} and lease_until >= now()
    returning cursor`),

  /** Gives the lease back; `updated_at` then says when the last pass ended. */
  reconcileRelease: statement('reconcile_release', ['name', 'owner'], (p) => `
    update reconcile_state set lease_owner = null, lease_until = null, updated_at = now()
    where name = ${p.name} and lease_owner = ${p.owner}`),

  /** The ids of a page of the log that the inbox has already settled: those are left untouched. */
  reconcileSettled: statement('reconcile_settled', ['event_ids'], (p) => `
    select event_id from webhook_events
    where event_id = any (${p.event_ids}::text[]) and status in ('processed', 'ignored', 'needs_review')`),

  reconcileEventTime: statement('reconcile_event_time', ['event_id'], (p) => `
    select occurred_at::text as occurred_at from webhook_events where event_id = ${p.event_id}`),

  // Benchmark ceiling (mounted only with BENCH_ROUTES=1) ----------------------------------------------
  benchInsert: statement('bench_insert', ['id', 'payload'], (p) => `
    insert into bench_inserts (id, payload) values (${p.id}, ${p.payload}::jsonb)`)
} as const

export type Statements = typeof statements
