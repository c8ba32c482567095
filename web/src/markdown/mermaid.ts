/**
 * Mermaid, loaded only when a complete ```mermaid block is on screen. `securityLevel: 'strict'`,
 * and the keys an `%%{init}%%` directive could use to weaken it (or to fetch CSS) are locked.
 */
import { sanitizeSvg } from './sanitize'

type Mermaid = (typeof import('mermaid'))['default']

let loading: Promise<Mermaid> | null = null
let counter = 0
let queue: Promise<unknown> = Promise.resolve()

const SECURE_KEYS = [
  'secure',
  'securityLevel',
  'startOnLoad',
  'maxTextSize',
  'maxEdges',
  'suppressErrorRendering',
  'htmlLabels',
  'themeCSS',
  'themeVariables',
  'fontFamily',
  'altFontFamily',
  'dompurifyConfig',
  'darkMode',
  'deterministicIds',
  'deterministicIDSeed',
  'look',
  'layout',
]

/**
 * Mermaid draws the diagram in the page before we can sanitise its SVG, so CSS that could fetch
 * (`classDef x fill:url(https://…)`, escapes, @import) is removed from the source first. Plain
 * colours and widths (`fill:#f9f,stroke-width:2px`) are kept.
 */
export function stripRiskyStyles(source: string): string {
  return source
    .split('\n')
    .filter(
      (line) => !(/^\s*(classDef|style|linkStyle)\b/i.test(line) && /[()\\@/]|url|image|import|expression/i.test(line)),
    )
    .join('\n')
}

function load(): Promise<Mermaid> {
  loading ??= import('mermaid').then((m) => m.default)
  return loading
}

/** Render a diagram to sanitised SVG markup. Renders run one at a time (mermaid is not re-entrant). */
export function renderMermaid(source: string, dark: boolean): Promise<string> {
  const job = queue.then(async () => {
    const mermaid = await load()
    mermaid.initialize({
      startOnLoad: false,
      securityLevel: 'strict',
      secure: SECURE_KEYS,
      theme: dark ? 'dark' : 'default',
      maxTextSize: 50_000,
      maxEdges: 500,
      suppressErrorRendering: true,
      htmlLabels: false,
      flowchart: { htmlLabels: false },
      fontFamily: 'ui-sans-serif, system-ui, "Noto Sans CJK SC", sans-serif',
    })
    const id = `cg-mermaid-${++counter}`
    try {
      const { svg } = await mermaid.render(id, stripRiskyStyles(source))
      return sanitizeSvg(svg)
    } finally {
      document.getElementById(id)?.remove()
      document.getElementById(`d${id}`)?.remove()
    }
  })
  queue = job.catch(() => undefined)
  return job
}
