import { CloneType } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import type { AppContext } from '../../context.ts'
import { jsonBody } from '../../http/body.ts'
import { ErrorBody, ownModels } from '../../http/schemas.ts'
import {
  CreateWebhook,
  DeliveriesQuery,
  Delivery,
  DeliveryAttempt,
  DeliveryAttemptList,
  DeliveryParams,
  MemoryQuery,
  PatchWebhook,
  RecoverResult,
  RecoverWebhook,
  RotatedSecret,
  Webhook,
  WebhookList,
  WebhookParams,
  WebhookWithSecret,
} from './model.ts'

/** What this module uses of the composition root (src/context.ts). */
export type WebhooksApiDeps = Pick<AppContext, 'authPlugin' | 'config' | 'webhooks'>

const errors = { 400: 'ErrorBody', 401: 'ErrorBody', 403: 'ErrorBody', 404: 'ErrorBody', 422: 'ErrorBody' } as const


/**
 * REST: /api/v1/webhooks (docs/webhooks.md, admin scope). Side-effect free: the store, the outbox and the
 * service are built (and the outbox started) by the composition root (src/context.ts, compose.ts here).
 */
export function webhooksController(ctx: WebhooksApiDeps) {
  const svc = ctx.webhooks.service

  const models = ownModels({
    Webhook,
    WebhookWithSecret,
    WebhookList,
    CreateWebhook,
    PatchWebhook,
    RotatedSecret,
    RecoverWebhook,
    RecoverResult,
    DeliveryAttempt,
    DeliveryAttemptList,
    Delivery,
    ErrorBody,
  })
  const params = CloneType(WebhookParams) // rewritten in place when routes compile, like models (see ownModels)

  return new Elysia({ prefix: '/api/v1/webhooks', tags: ['webhooks'] })
    .use(ctx.authPlugin)
    .model(models)
    .post(
      '',
      async ({ body, set, principal, memory }) => {
        const created = await svc.create(principal, memory, body)
        set.status = 201
        return created
      },
      {
        auth: 'admin',
        ...jsonBody(ctx.config.maxBodyBytes, models.CreateWebhook),
        body: 'CreateWebhook',
        response: { 201: 'WebhookWithSecret', ...errors, 409: 'ErrorBody', 429: 'ErrorBody' },
        detail: {
          summary: 'Create a webhook',
          description:
            'Returns the webhook with its signing secret (shown only here and by rotate-secret). The URL is checked by the SSRF guard ' +
            '(422 for private targets unless MATRIC_WEBHOOK_ALLOW_PRIVATE=true). Rate-limited per principal (429 with retry-after); ' +
            'a memory holds at most MATRIC_WEBHOOK_MAX_PER_MEMORY webhooks (409).',
        },
      },
    )
    .get('', async ({ principal, memory }) => svc.list(principal, memory), {
      auth: 'admin',
      query: MemoryQuery,
      response: { 200: 'WebhookList', ...errors },
      detail: { summary: 'List the webhooks of the request memory' },
    })
    .get('/:id', async ({ params, principal }) => svc.get(principal, params.id), {
      auth: 'admin',
      params,
      response: { 200: 'Webhook', ...errors },
      detail: { summary: 'Get a webhook' },
    })
    .patch('/:id', async ({ params, body, principal }) => svc.update(principal, params.id, body), {
      auth: 'admin',
      ...jsonBody(ctx.config.maxBodyBytes, models.PatchWebhook),
      params,
      body: 'PatchWebhook',
      response: { 200: 'Webhook', ...errors },
      detail: {
        summary: 'Update a webhook',
        description: '`is_active: true` re-enables a disabled webhook, resets consecutive_failures and resumes its queued deliveries.',
      },
    })
    .delete(
      '/:id',
      async ({ params, set, principal }) => {
        await svc.delete(principal, params.id)
        set.status = 204
      },
      {
        auth: 'admin',
        params,
        response: { 204: t.Void({ description: 'Deleted, with its queued deliveries and attempt log' }), ...errors },
        detail: { summary: 'Delete a webhook' },
      },
    )
    .get('/:id/deliveries', async ({ params, query, principal }) => svc.attempts(principal, params.id, query.limit ?? 50), {
      auth: 'admin',
      params,
      query: DeliveriesQuery,
      response: { 200: 'DeliveryAttemptList', ...errors },
      detail: { summary: 'Attempt log of a webhook, newest first' },
    })
    .post(
      '/:id/test',
      async ({ params, set, principal }) => {
        set.status = 202
        return svc.test(principal, params.id)
      },
      {
        auth: 'admin',
        params,
        response: { 202: 'Delivery', ...errors, 409: 'ErrorBody' },
        detail: {
          summary: 'Send a test delivery',
          description:
            'Queues a `queue.status` event with the memory’s current job counts for this webhook only (whatever its event filter), ' +
            'through the same outbox, signing and retry rules as real deliveries. 409 when the webhook is disabled.',
        },
      },
    )
    .post(
      '/:id/deliveries/:delivery_id/retry',
      async ({ params, set, principal }) => {
        set.status = 202
        return svc.retry(principal, params.id, params.delivery_id)
      },
      {
        auth: 'admin',
        params: DeliveryParams,
        response: { 202: 'Delivery', ...errors, 409: 'ErrorBody' },
        detail: {
          summary: 'Retry a delivery now',
          description:
            'Re-queues the delivery (also a failed or succeeded one) for an immediate attempt with a fresh retry budget. ' +
            '409 while an attempt is in flight or when the webhook is disabled.',
        },
      },
    )
    .post(
      '/:id/recover',
      async ({ params, body, set, principal }) => {
        set.status = 202
        return svc.recover(principal, params.id, body)
      },
      {
        auth: 'admin',
        ...jsonBody(ctx.config.maxBodyBytes, models.RecoverWebhook),
        params,
        body: 'RecoverWebhook',
        response: { 202: 'RecoverResult', ...errors, 409: 'ErrorBody' },
        detail: {
          summary: 'Re-deliver every failed delivery since a time',
          description:
            'Re-queues each delivery of this webhook that failed for good and whose event came at or after `since` (and before `until`, default now) ' +
            'for an immediate attempt with a fresh retry budget. Succeeded, waiting and in-flight deliveries are left alone, so repeating it ' +
            'sends nothing twice. 409 when the webhook is disabled (re-enable it first).',
        },
      },
    )
    .post('/:id/rotate-secret', async ({ params, principal }) => svc.rotateSecret(principal, params.id), {
      auth: 'admin',
      params,
      response: { 200: 'RotatedSecret', ...errors },
      detail: {
        summary: 'Rotate the signing secret',
        description: 'Returns the new secret. The previous one keeps signing alongside it (both signatures are sent) for 24 hours.',
      },
    })
}

