import { t } from 'elysia'

/** The error body of every 4xx/5xx response. */
export const ErrorBody = t.Object(
  {
    error: t.String({ description: 'machine-readable code, e.g. unauthorized' }),
    message: t.String({ description: 'human-readable explanation' }),
    details: t.Optional(t.Unknown()),
  },
  // explicit for a stable OpenAPI document (see notes/model.ts)
  { additionalProperties: false, examples: [{ error: 'forbidden', message: "token lacks the 'write' scope" }] },
)
