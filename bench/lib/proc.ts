import { readFileSync } from 'node:fs'

/** Process figures from /proc (Linux): CPU ticks and resident memory of the server under test. */

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux). */
export const CLK_TCK = (() => {
  try {
    const out = Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()
    const n = Number(out)
    return Number.isFinite(n) && n > 0 ? n : 100
  } catch {
    return 100
  }
})()

/** [utime, stime] (ticks) from the text of /proc/<pid>/stat; the command name may contain spaces and parens. */
export function parseStatUserSys(stat: string): [number, number] {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After "pid (comm) ": state is field 3, so utime (field 14) and stime (15) are at 11 and 12.
  return [Number(rest[11]), Number(rest[12])]
}

/** utime + stime (ticks). */
export function parseStatTicks(stat: string): number {
  const [u, s] = parseStatUserSys(stat)
  return u + s
}

/** Kernel-mode ticks of a process (on loopback this includes the TCP work of delivering to the peer). */
export function sysTicks(pid: number | 'self'): number {
  try {
    return parseStatUserSys(readFileSync(`/proc/${pid}/stat`, 'utf8'))[1]
  } catch {
    return Number.NaN
  }
}

/** A `Vm*:` line of /proc/<pid>/status in kB (VmRSS, VmHWM …); NaN when absent. */
export function parseStatusKb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return m ? Number(m[1]) : Number.NaN
}

export function cpuTicks(pid: number | 'self'): number {
  try {
    return parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return Number.NaN
  }
}

export function rssMb(pid: number | 'self'): number {
  try {
    return parseStatusKb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS') / 1024
  } catch {
    return Number.NaN
  }
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  } catch {
    return 'unknown'
  }
}

/** Busy ticks of the whole machine (all cores) from the text of /proc/stat: everything but idle and iowait. */
export function parseMachineBusy(stat: string): number {
  const f = stat.slice(0, stat.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)
}

function machineBusy(): number {
  try {
    return parseMachineBusy(readFileSync('/proc/stat', 'utf8'))
  } catch {
    return Number.NaN
  }
}

export interface CpuWindow {
  /** Percent of one core over the window (200 = both cores of this machine). */
  serverCpuPct: number
  /** The load generator's own share, for the "clients share the cores" caveat. */
  clientCpuPct: number
  /** Everything else on the machine (other engineers' tests, the kernel's share not charged to us). */
  otherCpuPct: number
  /** The kernel-mode part of serverCpuPct (syscalls, and on loopback the TCP delivery to the clients). */
  serverSysPct: number
  seconds: number
}

/** Measures CPU of the server, of this process and of the rest of the machine between start() and stop(). */
export class CpuMeter {
  private t0 = 0
  private s0 = 0
  private c0 = 0
  private m0 = 0
  private k0 = 0

  constructor(private pid: number) {}

  start(): this {
    this.t0 = performance.now()
    this.k0 = sysTicks(this.pid)
    this.s0 = cpuTicks(this.pid)
    this.c0 = cpuTicks('self')
    this.m0 = machineBusy()
    return this
  }

  stop(): CpuWindow {
    const seconds = (performance.now() - this.t0) / 1000
    const pct = (ticks: number) => (ticks / CLK_TCK / seconds) * 100
    const server = cpuTicks(this.pid) - this.s0
    const client = cpuTicks('self') - this.c0
    const other = machineBusy() - this.m0 - server - client
    return { serverCpuPct: pct(server), clientCpuPct: pct(client), otherCpuPct: Math.max(0, pct(other)), serverSysPct: pct(sysTicks(this.pid) - this.k0), seconds }
  }
}

/** Samples the server's RSS on an interval (peak and a time series for the soak run). */
export class RssSampler {
  readonly series: { t: number; mb: number }[] = []
  private timer: ReturnType<typeof setInterval> | undefined
  private t0 = performance.now()
  peak = 0

  constructor(
    private pid: number,
    private intervalMs = 250,
  ) {}

  start(): this {
    this.t0 = performance.now()
    this.sample()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
    return this
  }

  sample(): number {
    const mb = rssMb(this.pid)
    if (Number.isFinite(mb)) {
      this.series.push({ t: (performance.now() - this.t0) / 1000, mb })
      if (mb > this.peak) this.peak = mb
    }
    return mb
  }

  stop(): void {
    clearInterval(this.timer)
    this.sample()
  }
}
