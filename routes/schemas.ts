// Schemas more than one route uses.
import { Type, type TLiteral, type TUnion } from '@sinclair/typebox'

/** Ids as the service takes them everywhere: printable text, up to 128 characters. */
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })

/** One of a list of strings, typed as that union. */
export const OneOf = <const T extends readonly string[]>(values: T) =>
  Type.Union(values.map((value) => Type.Literal(value))) as unknown as TUnion<[TLiteral<T[number]>]>
