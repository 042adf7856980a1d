// `npm run send-sample [-- --type boost|subscription|badge] [--event-id evt_x] [--url http://...] [--times N]`:
// signs a sample Paddle event with the configured secret and posts it (twice by default), as a retrying provider would.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { EXAMPLE_CATALOG } from '../plugins/catalog.js'
import { loadPriceCatalog } from '../services/catalog.js'
import { signPaddleBody } from '../services/paddle/signature.js'
import { startErrorLine } from '../services/start-error.js'

const USAGE = `Usage: npm run send-sample [-- [--type subscription|boost|badge] [--event-id evt_x] [--url URL] [--times N]]

Signs a sample Paddle event with PADDLE_WEBHOOK_SECRET (unset: the development secret the service keeps in
DATA_DIR/dev-webhook-secret) and posts it N times, as a retrying provider would. Its price is the first one
of PRICE_CATALOG (unset: the example catalogue) that grants what --type buys.

  --type      subscription: subscription.created (the default); boost or badge: transaction.completed
  --event-id  the event's id (default: a new one)
  --url       where to post (default: http://127.0.0.1:$PORT/billing/webhook, PORT 3000)
  --times     how many deliveries (default: 2)
  -h, --help  this text
`
const TYPES = ['subscription', 'boost', 'badge']

/** One line, never a stack trace: this is among the first commands a new user types. Status 2: a usage error. */
function fail (message: string, status = 2): never {
  process.stderr.write(`send-sample: ${message}${status === 2 ? ' (see npm run send-sample -- --help)' : ''}\n`)
  process.exit(status)
}

function parse () {
  try {
    return parseArgs({
      options: {
        type: { type: 'string', default: 'subscription' },
        'event-id': { type: 'string' },
        url: { type: 'string' },
        times: { type: 'string', default: '2' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
  } catch (err) {
    return fail((err as Error).message)
  }
}

const { values } = parse()
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
if (!TYPES.includes(values.type)) fail(`--type must be one of ${TYPES.join(', ')}, not '${values.type}'`)
if (!/^[1-9][0-9]{0,2}$/.test(values.times)) fail(`--times must be a whole number from 1 to 999, not '${values.times}'`)
if (values.url !== undefined && !/^https?:$/.test(URL.parse(values.url)?.protocol ?? '')) {
  fail(`--url must be an http:// or https:// URL such as http://127.0.0.1:3000/billing/webhook, not '${values.url}'`)
}

function secret (): string {
  const configured = process.env.PADDLE_WEBHOOK_SECRET?.split(',')[0]?.trim()
  if (configured) return configured
  const file = join(process.env.DATA_DIR ?? './.data', 'dev-webhook-secret')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return fail(`no PADDLE_WEBHOOK_SECRET and no ${file}: start the service first (npm start) or set the secret`, 1)
  }
}

const id = (prefix: string) => `${prefix}_${randomBytes(13).toString('hex')}`
const eventId = values['event-id'] ?? id('evt')
const now = new Date().toISOString()

/** The first price of the catalogue (PRICE_CATALOG, or the shipped example) that grants `kind`. */
function priceFor (kind: 'boost' | 'tier' | 'badge'): string {
  const catalog = loadPriceCatalog(process.env.PRICE_CATALOG ?? EXAMPLE_CATALOG)
  for (const [priceId, grant] of catalog.entries()) if (grant.grant === kind) return priceId
  throw new Error(`the catalogue has no price that grants a ${kind}`)
}

function item (priceId: string) {
  return { price_id: priceId, price: { id: priceId }, quantity: 1 }
}

/** Paddle-shaped, cut down to what the service reads plus a little; the tests use the full shapes. */
function sampleEvent (): object {
  const base = { event_id: eventId, notification_id: id('ntf'), occurred_at: now }
  const who = { community_id: 'community_demo', member_id: 'member_demo' }
  if (values.type === 'boost' || values.type === 'badge') {
    const priceId = priceFor(values.type)
    return {
      ...base,
      event_type: 'transaction.completed',
      data: {
        id: id('txn'),
        status: 'completed',
        origin: 'web',
        customer_id: id('ctm'),
        subscription_id: null,
        currency_code: 'USD',
        // A badge names the purchase POST /badges/purchase started; this one names none, so it waits for review.
        custom_data: values.type === 'boost' ? who : { ...who, purchase_id: 'bp_sample_without_a_purchase' },
        items: [item(priceId)],
        details: { totals: { total: '1500', currency_code: 'USD' }, line_items: [{ price_id: priceId, quantity: 1, totals: { total: '1500' } }] }
      }
    }
  }
  return {
    ...base,
    event_type: 'subscription.created',
    data: {
      id: id('sub'),
      status: 'active',
      customer_id: id('ctm'),
      custom_data: who,
      items: [{ ...item(priceFor('tier')), status: 'active' }],
      current_billing_period: { starts_at: now, ends_at: new Date(Date.now() + 30 * 86400_000).toISOString() }
    }
  }
}

const url = values.url ?? `http://127.0.0.1:${process.env.PORT ?? 3000}/billing/webhook`
const key = secret()
let body: string
try {
  body = JSON.stringify(sampleEvent())
} catch (err) {
  // A PRICE_CATALOG that cannot be read, or one without a price for this type.
  fail(startErrorLine(err), 1)
}
for (let attempt = 1; attempt <= Number(values.times); attempt++) {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, key) },
      body
    })
  } catch (err) {
    // fetch's own message is "fetch failed"; the reason (ECONNREFUSED...) is its cause.
    fail(`could not reach ${url}: ${startErrorLine((err as Error).cause ?? err)} (is the service running? npm start)`, 1)
  }
  console.log(`delivery ${attempt}: ${response.status} ${await response.text()}`)
}
