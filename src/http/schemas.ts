import { CloneType, Type, type TSchema } from '@sinclair/typebox'
import { t } from 'elysia'

/**
 * An integer in a JSON body, response or event. Elysia's `t.Integer` also accepts numeric strings through a
 * transform, and one transform anywhere in a schema makes Elysia decode every request (or encode every
 * response) dynamically on top of the compiled check. JSON carries real numbers; query parameters, which
 * arrive as strings, keep `t.Integer`.
 */
export const JsonInt = Type.Integer

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

/**
 * Copies of schemas for `.model()`. Elysia rewrites schemas in place: `.model()` stamps a `$id` on each
 * registered schema (which would then also appear where it is nested, e.g. Note inside NoteList, and in the
 * next app built in the same process) and compiling a route adds `additionalProperties: false` to responses.
 */
export function ownModels<T extends Record<string, TSchema>>(models: T): T {
  return Object.fromEntries(Object.entries(models).map(([name, schema]) => [name, CloneType(schema)])) as T
}
