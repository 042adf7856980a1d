import t from 'tap'
import { planEvent } from '../../services/events/index.js'
import type { PaddleEvent } from '../../services/paddle/envelope.js'

const event = (event_type: string, data: PaddleEvent['data']): PaddleEvent =>
  ({ event_id: 'evt_1', event_type, occurred_at: '2026-11-20T10:00:00Z', data })
const now = new Date('2026-11-20T10:00:05Z')

t.test('planEvent decides, without I/O, what each event does', async (t) => {
  for (const type of ['created', 'activated', 'updated', 'canceled', 'paused', 'resumed', 'past_due']) {
    t.equal(planEvent(event(`subscription.${type}`, { id: 'sub_1' }), now).kind, 'apply', type)
  }
  t.equal(planEvent(event('transaction.completed', { id: 'txn_1', custom_data: { type: 'boost_purchase', community_id: 'c' } }), now).kind, 'apply')
  t.equal(planEvent(event('transaction.completed', { id: 'txn_1', custom_data: { type: 'badge_purchase', community_id: 'c', member_id: 'm', badge_id: 'b' } }), now).kind, 'apply')
  t.equal(planEvent(event('transaction.completed', { id: 'txn_1', subscription_id: 'sub_1' }), now).kind, 'apply')
  t.equal(planEvent(event('transaction.payment_failed', { id: 'txn_1', subscription_id: 'sub_1' }), now).kind, 'apply')

  const ignored: Array<[PaddleEvent, RegExp]> = [
    [event('customer.created', { id: 'ctm_1' }), /not handled/],
    [event('subscription.updated', {}), /data\.id/],
    [event('transaction.completed', { id: 'txn_1' }), /without a boost, badge or subscription/],
    [event('transaction.completed', { id: 'txn_1', custom_data: { type: 'boost_purchase' } }), /community_id/],
    [event('transaction.completed', { custom_data: { type: 'boost_purchase', community_id: 'c' } }), /data\.id/],
    [event('transaction.completed', { id: 'txn_1', custom_data: { type: 'badge_purchase', member_id: 'm' } }), /badge_id/],
    [event('transaction.payment_failed', { id: 'txn_1', subscription_id: null }), /subscription_id/]
  ]
  for (const [e, reason] of ignored) {
    const plan = planEvent(e, now)
    t.equal(plan.kind, 'ignore', `${e.event_type} ${JSON.stringify(e.data)}`)
    t.match(plan.kind === 'ignore' ? plan.reason : '', reason)
  }
})

t.test('addMonths counts calendar months and clamps to the end of a shorter month', async (t) => {
  const { addMonths } = await import('../../services/events/boost.js')
  t.equal(addMonths(new Date('2026-01-31T10:00:00Z'), 1).toISOString(), '2026-02-28T10:00:00.000Z')
  t.equal(addMonths(new Date('2028-01-31T10:00:00Z'), 1).toISOString(), '2028-02-29T10:00:00.000Z', 'leap year')
  t.equal(addMonths(new Date('2026-11-15T00:00:00Z'), 3).toISOString(), '2027-02-15T00:00:00.000Z', 'across a year')
  t.equal(addMonths(new Date('2026-03-31T23:59:59Z'), 24).toISOString(), '2028-03-31T23:59:59.000Z')
})

t.test('planEvent: custom_data.type picks the handler before subscription_id does; what it then lacks is the reason', async (t) => {
  const decisions: Array<[string, PaddleEvent, 'apply' | RegExp]> = [
    ['a boost on a subscription transaction is still a boost', event('transaction.completed', { id: 'txn_1', subscription_id: 'sub_1', custom_data: { type: 'boost_purchase' } }), /boost_purchase without custom_data\.community_id/],
    ['a badge without member_id', event('transaction.completed', { id: 'txn_1', custom_data: { type: 'badge_purchase', community_id: 'c', badge_id: 'b' } }), /member_id/],
    ['a badge without community_id', event('transaction.completed', { id: 'txn_1', custom_data: { type: 'badge_purchase', member_id: 'm', badge_id: 'b' } }), /community_id/],
    ['a badge without data.id', event('transaction.completed', { custom_data: { type: 'badge_purchase', member_id: 'm', community_id: 'c', badge_id: 'b' } }), /data\.id/],
    ['another custom type on a subscription transaction', event('transaction.completed', { id: 'txn_1', subscription_id: 'sub_1', custom_data: { type: 'gift_card' } }), 'apply'],
    ['custom_data null on a subscription transaction', event('transaction.completed', { id: 'txn_1', subscription_id: 'sub_1', custom_data: null }), 'apply'],
    ['a completed transaction with subscription_id null', event('transaction.completed', { id: 'txn_1', subscription_id: null }), /without a boost, badge or subscription/],
    ['payment_failed with no subscription_id at all', event('transaction.payment_failed', { id: 'txn_1' }), /transaction\.payment_failed without subscription_id/],
    ['a subscription event with custom_data null', event('subscription.updated', { id: 'sub_1', custom_data: null }), 'apply'],
    ['a subscription event type we do not know', event('subscription.trialing', { id: 'sub_1' }), /subscription\.trialing is not handled/],
    ['transaction.paid is not completed', event('transaction.paid', { id: 'txn_1', custom_data: { type: 'boost_purchase', community_id: 'c' } }), /transaction\.paid is not handled/],
    ['the name of each event type matters exactly', event('Subscription.Created', { id: 'sub_1' }), /not handled/]
  ]
  for (const [name, e, expected] of decisions) {
    const plan = planEvent(e, now)
    if (expected === 'apply') {
      t.equal(plan.kind, 'apply', name)
    } else {
      t.equal(plan.kind, 'ignore', name)
      t.match(plan.kind === 'ignore' ? plan.reason : '', expected, `${name}: reason`)
    }
  }
})

t.test('planEvent is pure: the same event gives the same decision, and the event is not changed', async (t) => {
  const e = event('transaction.completed', { id: 'txn_1', custom_data: { type: 'boost_purchase', community_id: 'c', months: 2 } })
  const copy = structuredClone(e)
  t.equal(planEvent(e, now).kind, 'apply')
  t.equal(planEvent(e, now).kind, 'apply')
  t.same(e, copy)
})
