/**
 * JSON → YAML for the AsyncAPI document. Bun.YAML.stringify writes strings such as `2026-11-27T10:00:00.000Z` or
 * `1_000` plain, which YAML 1.1 readers (js-yaml's default schema, used by AsyncAPI tooling; PyYAML) take for a
 * timestamp or a number. Here a string is written plain only when it cannot be read as anything else under YAML 1.1
 * or 1.2; otherwise it is double-quoted (JSON string syntax is valid YAML double-quoted syntax), or written as a
 * literal block when it spans lines.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

// Plain when it starts with a letter, `$` (as in `$ref`) or `/` (a path), continues with letters, digits and
// `_ . / $ -`, possibly in words separated by single spaces, and is not a YAML 1.1 boolean or null word. No `:`, `#`,
// quotes, brackets or leading/trailing space, so nothing in it is YAML syntax, and no reader takes it for a number.
const PLAIN = /^[A-Za-z$/][A-Za-z0-9_./$-]*(?: [A-Za-z0-9_./$-]+)*$/
const RESERVED = /^(?:y|n|yes|no|on|off|true|false|null)$/i
// A literal block keeps every character, but needs printable text (YAML's line breaks U+0085/2028/2029 and other
// controls excluded, `\n` allowed) that neither starts nor ends with whitespace.
const BLOCKABLE = /^[^\s\p{Cc}\u2028\u2029\ufeff](?:[^\p{Cc}\u2028\u2029\ufeff]|\n)*[^\s\p{Cc}\u2028\u2029\ufeff]$/u
// Characters YAML does not allow raw (C1 controls, DEL, its extra line breaks, BOM, non-characters); JSON.stringify
// already escapes C0 controls and lone surrogates.
const NOT_PRINTABLE = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g

function quoted(s: string): string {
  return JSON.stringify(s).replace(NOT_PRINTABLE, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

function scalarString(s: string): string {
  return PLAIN.test(s) && !RESERVED.test(s) ? s : quoted(s)
}

/** YAML 1.1 reads a float only with a `.` (`1.0e+21`, not `1e+21`). */
function number(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`not JSON: ${n}`)
  const s = String(n)
  return /^-?\d+e/.test(s) ? s.replace('e', '.0e') : s
}

function isCollection(v: Json): v is Json[] | { [k: string]: Json } {
  return typeof v === 'object' && v !== null && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)
}

/** A value that fits on the line after `key:` or `- ` (scalars, empty collections); null for a nested block. */
function inline(v: Json, indent: string): string | null {
  if (v === null) return 'null'
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'number') return number(v)
  if (typeof v === 'string') {
    if (v.includes('\n') && BLOCKABLE.test(v)) return '|-\n' + v.split('\n').map((line) => (line ? indent + '  ' + line : '')).join('\n')
    return scalarString(v)
  }
  if (Array.isArray(v)) return v.length ? null : '[]'
  return Object.keys(v).length ? null : '{}'
}

function block(v: Json[] | { [k: string]: Json }, indent: string): string {
  const lines: string[] = []
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = inline(item, indent)
      if (s !== null) lines.push(`${indent}- ${s}`)
      // A nested collection starts on the dash's line, indented two more (`- key: value`, `- - item`).
      else lines.push(`${indent}- ${block(item as Json[] | { [k: string]: Json }, indent + '  ').slice(indent.length + 2)}`)
    }
  } else {
    for (const [k, item] of Object.entries(v)) {
      const key = scalarString(k)
      const s = inline(item, indent)
      if (s !== null) lines.push(`${indent}${key}: ${s}`)
      else lines.push(`${indent}${key}:\n${block(item as Json[] | { [k: string]: Json }, indent + '  ')}`)
    }
  }
  return lines.join('\n')
}

/** The YAML text of a JSON value (newline-terminated). */
export function toYaml(value: unknown): string {
  const v = value as Json
  if (!isCollection(v)) return `${inline(v, '') ?? ''}\n`
  return block(v, '') + '\n'
}
