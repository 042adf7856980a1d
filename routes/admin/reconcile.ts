// POST /admin/reconcile: run one reconciliation pass now and answer what it found.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ReconcileDisabledError, ReconcileRunningError } from '../../services/errors.js'
import { PaddleKeyRejectedError, PaddleRequestError, PaddleUnavailableError } from '../../services/reconcile/client.js'
import { LeaseLostError } from '../../services/reconcile/pass.js'

const Count = Type.Integer({ minimum: 0 })
const Summary = Type.Object({
  pages: Count,
  seen: Count,
  processed: Count,
  duplicate: Count,
  ignored: Count,
  needsReview: Count,
  failed: Count,
  skipped: Count,
  invalid: Count,
  cursor: Type.Union([Type.String(), Type.Null()]),
  caughtUp: Type.Boolean()
})
const ApiFailure = Type.Object({ error: Type.String(), message: Type.String(), summary: Summary })

const reconcileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/admin/reconcile', {
    // A pass runs events through LVVER: without Redis it could settle nothing.
    config: { lock: true },
    onRequest: app.authenticate,
    schema: { response: { 200: Summary, 502: ApiFailure } }
  }, async (request, reply) => {
    const reconciler = app.reconciler
    if (reconciler === null) throw new ReconcileDisabledError()
    const run = await reconciler.runOnce()
    if (!run.ran) throw new ReconcileRunningError()
    const { report } = run
    const summary = { ...report.summary, caughtUp: report.caughtUp }
    const error = report.error
    if (error instanceof PaddleKeyRejectedError || error instanceof PaddleUnavailableError || error instanceof PaddleRequestError) {
      // Paddle's failure, not ours: the message says which, and what the pass did before it.
      request.log.warn({ error: error.message }, 'reconcile pass could not read the Paddle event log')
      return reply.code(502).send({ error: 'paddle_api_error', message: error.message, summary })
    }
    // Another replica took the lease over mid-pass (this one could not renew it in time).
    if (error instanceof LeaseLostError) throw new ReconcileRunningError()
    if (error !== undefined) throw error
    return summary
  })
}

export default reconcileRoutes
