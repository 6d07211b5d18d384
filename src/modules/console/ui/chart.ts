/** Small inline SVG line charts: no library, a few hundred bytes of code. */

const NS = 'http://www.w3.org/2000/svg'

export interface Series {
  values: readonly (number | null)[]
  /** CSS class of the line (its colour comes from the stylesheet). */
  cls: string
  label: string
}

/** An SVG sparkline of one or more series sharing a y axis from 0; `label` is its accessible name. */
export function lineChart(series: readonly Series[], label: string, width = 240, height = 56): SVGSVGElement {
  const svg = document.createElementNS(NS, 'svg')
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`)
  svg.setAttribute('class', 'chart')
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', label)
  svg.setAttribute('preserveAspectRatio', 'none')
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)))
  const base = document.createElementNS(NS, 'line')
  base.setAttribute('x1', '0')
  base.setAttribute('x2', String(width))
  base.setAttribute('y1', String(height - 1))
  base.setAttribute('y2', String(height - 1))
  base.setAttribute('class', 'chart-axis')
  svg.append(base)
  for (const s of series) {
    const n = s.values.length
    if (n < 1) continue
    const step = n > 1 ? width / (n - 1) : 0
    let d = ''
    let pen = false
    s.values.forEach((v, i) => {
      if (v === null) {
        pen = false
        return
      }
      const x = (i * step).toFixed(1)
      const y = (height - 2 - (v / max) * (height - 6)).toFixed(1)
      d += `${pen ? 'L' : 'M'}${x} ${y}`
      pen = true
    })
    const path = document.createElementNS(NS, 'path')
    path.setAttribute('d', d)
    path.setAttribute('class', `chart-line ${s.cls}`)
    const title = document.createElementNS(NS, 'title')
    title.textContent = s.label
    path.append(title)
    svg.append(path)
  }
  return svg
}
