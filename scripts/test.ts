/**
 * Runs `bun test` with the given arguments, streams its output, and ends with the line CI reads:
 * `N passed, N failed`. The exit code is bun's.
 */
export {}

// Integration tests start real servers: 30 s per test unless the caller chooses (bunfig.toml has no such key).
const args = process.argv.slice(2)
if (!args.some((a) => a.startsWith('--timeout'))) args.unshift('--timeout', '30000')
const proc = Bun.spawn([process.execPath, 'test', ...args], { stdout: 'inherit', stderr: 'pipe', env: process.env })

let pass = 0
let fail = 0
const decoder = new TextDecoder()
let carry = ''
for await (const chunk of proc.stderr) {
  process.stderr.write(chunk)
  const text = carry + decoder.decode(chunk, { stream: true })
  const lines = text.split('\n')
  carry = lines.pop() ?? ''
  for (const line of lines) count(line)
}
count(carry)

function count(line: string): void {
  const m = /^\s*(\d+) (pass|fail)\s*$/.exec(line)
  if (m) m[2] === 'pass' ? (pass = Number(m[1])) : (fail = Number(m[1]))
}

const code = await proc.exited
if (code !== 0 && fail === 0) fail = 1 // a crash or load error still counts as a failure
console.log(`${pass} passed, ${fail} failed`)
process.exit(code)
