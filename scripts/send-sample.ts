// `npm run send-sample [-- --type boost|subscription|badge] [--event-id evt_x] [--url http://...]`:
// signs a sample Paddle event with the configured secret and posts it twice, as a retrying provider would.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { signPaddleBody } from '../services/paddle/signature.js'

const { values } = parseArgs({
  options: {
    type: { type: 'string', default: 'subscription' },
    'event-id': { type: 'string' },
    url: { type: 'string' },
    times: { type: 'string', default: '2' }
  }
})

function secret (): string {
  const configured = process.env.PADDLE_WEBHOOK_SECRET?.split(',')[0]?.trim()
  if (configured) return configured
  const file = join(process.env.DATA_DIR ?? './.data', 'dev-webhook-secret')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    throw new Error(`No PADDLE_WEBHOOK_SECRET and no ${file}: start the service first (npm start) or set the secret.`)
  }
}

const id = (prefix: string) => `${prefix}_${randomBytes(13).toString('hex')}`
const eventId = values['event-id'] ?? id('evt')
const now = new Date().toISOString()

function sampleEvent (): object {
  const base = { event_id: eventId, notification_id: id('ntf'), occurred_at: now }
  if (values.type === 'boost' || values.type === 'badge') {
    const custom = values.type === 'boost'
      ? { type: 'boost_purchase', community_id: 'community_demo', member_id: 'member_demo', months: 3 }
      : { type: 'badge_purchase', community_id: 'community_demo', member_id: 'member_demo', badge_id: 'badge_gold' }
    return {
      ...base,
      event_type: 'transaction.completed',
      data: {
        id: id('txn'), status: 'completed', customer_id: id('ctm'), subscription_id: null, currency_code: 'USD',
        custom_data: custom, details: { totals: { total: '1500', currency_code: 'USD' } }
      }
    }
  }
  return {
    ...base,
    event_type: 'subscription.created',
    data: {
      id: id('sub'), status: 'active', customer_id: id('ctm'),
      custom_data: { community_id: 'community_demo', tier: 'pro' },
      current_billing_period: { starts_at: now, ends_at: new Date(Date.now() + 30 * 86400_000).toISOString() }
    }
  }
}

const url = values.url ?? `http://127.0.0.1:${process.env.PORT ?? 3000}/billing/webhook`
const body = JSON.stringify(sampleEvent())
const key = secret()
for (let attempt = 1; attempt <= Number(values.times); attempt++) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, key) },
    body
  })
  console.log(`delivery ${attempt}: ${response.status} ${await response.text()}`)
}
