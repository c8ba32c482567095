/**
 * The page's web fonts (KaTeX's; everything else uses the system's fonts) as self-contained
 * `@font-face` rules: a saved picture or HTML file has no stylesheet to fetch them from, so without
 * them math falls back to whatever the system has and its big symbols come out misaligned.
 */

export interface FontFace {
  family: string
  weight: string
  style: string
  /** The woff2 file (absolute URL). */
  url: string
}

const WEIGHTS: Record<string, string> = { normal: '400', bold: '700' }

function unquote(family: string): string {
  return family.trim().replace(/^["']|["']$/g, '')
}

export function normalWeight(weight: string): string {
  return WEIGHTS[weight.trim()] ?? weight.trim()
}

/** The woff2 source of an `@font-face` `src` list (KaTeX lists woff2, woff and ttf). */
export function woff2Source(src: string, base: string): string | null {
  for (const part of src.split(',')) {
    const url = /url\(\s*["']?([^"')]+)["']?\s*\)/.exec(part)?.[1]
    if (url && (/format\(\s*["']?woff2/.test(part) || /\.woff2(\?|#|$)/.test(url))) return new URL(url, base).href
  }
  return null
}

/** Every `@font-face` rule of the page's own stylesheets that has a woff2 file. */
export function pageFontFaces(doc: Document = document): FontFace[] {
  const faces: FontFace[] = []
  for (const sheet of Array.from(doc.styleSheets)) {
    let rules: CSSRuleList
    try {
      rules = sheet.cssRules
    } catch {
      continue // another origin's stylesheet
    }
    const base = sheet.href ?? doc.baseURI
    const visit = (list: CSSRuleList): void => {
      for (const rule of Array.from(list)) {
        if (rule instanceof CSSFontFaceRule) {
          const style = rule.style
          const url = woff2Source(style.getPropertyValue('src'), base)
          if (!url) continue
          faces.push({
            family: unquote(style.getPropertyValue('font-family')),
            weight: normalWeight(style.getPropertyValue('font-weight') || 'normal'),
            style: (style.getPropertyValue('font-style') || 'normal').trim(),
            url,
          })
        } else if ('cssRules' in rule && (rule as CSSGroupingRule).cssRules) {
          visit((rule as CSSGroupingRule).cssRules)
        }
      }
    }
    visit(rules)
  }
  return faces
}

/** The faces that text under `root` is drawn with (the first family of each element that is a web font). */
export function usedFaces(root: Element, faces: FontFace[]): FontFace[] {
  if (!faces.length) return []
  const families = new Set(faces.map((f) => f.family))
  const wanted = new Set<FontFace>()
  const seen = new Set<string>()
  const elements = [root, ...Array.from(root.querySelectorAll('*'))]
  for (const el of elements) {
    if (!el.firstChild) continue
    const cs = getComputedStyle(el)
    const family = cs.fontFamily
      .split(',')
      .map(unquote)
      .find((f) => families.has(f))
    if (!family) continue
    const key = `${family}|${normalWeight(cs.fontWeight)}|${cs.fontStyle}`
    if (seen.has(key)) continue
    seen.add(key)
    const ofFamily = faces.filter((f) => f.family === family)
    const exact = ofFamily.filter((f) => f.weight === normalWeight(cs.fontWeight) && f.style === cs.fontStyle)
    for (const face of exact.length ? exact : ofFamily) wanted.add(face)
  }
  return [...wanted]
}

const dataUrls = new Map<string, Promise<string>>()

async function dataUrl(url: string): Promise<string> {
  let pending = dataUrls.get(url)
  if (!pending) {
    pending = fetch(url)
      .then((res) => {
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
        return res.blob()
      })
      .then(
        (blob) =>
          new Promise<string>((resolve, reject) => {
            const reader = new FileReader()
            reader.onload = () => resolve(String(reader.result).replace(/^data:[^;,]*/, 'data:font/woff2'))
            reader.onerror = () => reject(reader.error)
            reader.readAsDataURL(blob)
          }),
      )
    pending.catch(() => dataUrls.delete(url))
    dataUrls.set(url, pending)
  }
  return pending
}

/** `@font-face` rules, files inlined, for the web fonts `root` uses ('' when it uses none). */
export async function embeddedFontCss(root: Element): Promise<string> {
  const faces = usedFaces(root, pageFontFaces(root.ownerDocument))
  const rules = await Promise.all(
    faces.map(
      async (f) =>
        `@font-face{font-family:"${f.family}";font-weight:${f.weight};` +
        `font-style:${f.style};font-display:block;src:url(${await dataUrl(f.url)}) format("woff2")}`,
    ),
  )
  return rules.join('\n')
}
