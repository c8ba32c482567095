/**
 * The last line of defence for rendered markdown and mermaid SVG: an allow-list sanitiser
 * (DOMPurify) plus hooks that keep only http(s)/mailto links, stop every automatic
 * fetch from another origin (images, CSS url()), and open links in a new tab.
 */
import DOMPurify from 'dompurify'

const SAFE_HREF = /^(https?:|mailto:)/i
const SAFE_IMG_SRC = /^data:image\/(png|gif|jpe?g|webp);base64,/i
/** CSS that could fetch something: url(...) other than a same-document fragment, @import, expression(). */
const CSS_FETCH = /url\s*\(\s*(?!['"]?#)|@import|expression\s*\(|image-set\s*\(/i

let configured = false

function configure(): void {
  if (configured) return
  configured = true
  DOMPurify.addHook('uponSanitizeElement', (node, data) => {
    if (data.tagName === 'style' && CSS_FETCH.test(node.textContent ?? '')) {
      node.textContent = ''
    }
  })
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    const el = node as Element
    if (!el.getAttribute) return
    const style = el.getAttribute('style')
    if (style && CSS_FETCH.test(style)) el.removeAttribute('style')

    for (const attr of ['href', 'xlink:href']) {
      const value = el.getAttribute(attr)
      if (value === null) continue
      const v = value.trim()
      const isLink = el.tagName.toLowerCase() === 'a'
      // In SVG, href="#id" references a local element (markers, <use>); links must be http(s)/mailto.
      const ok = isLink ? SAFE_HREF.test(v) : v.startsWith('#')
      if (!ok) el.removeAttribute(attr)
    }
    if (el.tagName.toLowerCase() === 'a') {
      const href = el.getAttribute('href')
      if (href && /^https?:/i.test(href)) {
        el.setAttribute('target', '_blank')
        el.setAttribute('rel', 'noopener noreferrer')
        if (!el.getAttribute('title')) el.setAttribute('title', href)
      } else {
        el.removeAttribute('target')
      }
    }
    for (const attr of ['src', 'srcset', 'poster', 'background', 'data']) {
      const value = el.getAttribute(attr)
      if (value === null) continue
      if (!(attr === 'src' && SAFE_IMG_SRC.test(value.trim()))) el.removeAttribute(attr)
    }
  })
}

const FORBID_TAGS = [
  'style',
  'form',
  'input',
  'textarea',
  'select',
  'iframe',
  'frame',
  'object',
  'embed',
  'link',
  'meta',
  'base',
  'video',
  'audio',
  'source',
  'track',
  'picture',
  'dialog',
]

/** Sanitise HTML produced by the markdown renderer. */
export function sanitizeHtml(html: string): string {
  configure()
  return DOMPurify.sanitize(html, {
    ADD_TAGS: ['semantics', 'annotation'],
    ADD_ATTR: ['target'],
    FORBID_TAGS,
    SANITIZE_NAMED_PROPS: true,
  }) as string
}

/** Sanitise an SVG produced by mermaid (which already runs with securityLevel "strict"). */
export function sanitizeSvg(svg: string): string {
  configure()
  return DOMPurify.sanitize(svg, {
    USE_PROFILES: { svg: true, svgFilters: true, html: true },
    ADD_TAGS: ['foreignObject', 'style'],
    FORBID_TAGS: FORBID_TAGS.filter((t) => t !== 'style'),
    SANITIZE_NAMED_PROPS: false,
  }) as string
}
