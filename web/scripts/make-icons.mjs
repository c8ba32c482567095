// Draws the app icons (PNG) with no dependency: a green rounded square with a white chat
// bubble and a sparkle cut-out. Run once: `node scripts/make-icons.mjs`; the PNGs are committed.
import { writeFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}
function png(size, pixel) {
  const raw = Buffer.alloc((size * 4 + 1) * size)
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x, y)
      const o = y * (size * 4 + 1) + 1 + x * 4
      raw[o] = r
      raw[o + 1] = g
      raw[o + 2] = b
      raw[o + 3] = a
    }
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(size, 0)
  ihdr.writeUInt32BE(size, 4)
  ihdr[8] = 8
  ihdr[9] = 6
  ihdr[10] = 0
  ihdr[11] = 0
  ihdr[12] = 0
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

// Signed distance functions in unit coordinates (0..1).
const roundedBox = (x, y, cx, cy, hw, hh, r) => {
  const dx = Math.abs(x - cx) - hw + r
  const dy = Math.abs(y - cy) - hh + r
  return Math.hypot(Math.max(dx, 0), Math.max(dy, 0)) + Math.min(Math.max(dx, dy), 0) - r
}
const triangle = (x, y) => {
  // the bubble's tail
  const inside = y > 0.62 && y < 0.8 && x > 0.3 && x < 0.44 && x - 0.3 < (0.8 - y) * 0.8
  return inside ? -1 : 1
}
const sparkle = (x, y, cx, cy, s) => {
  // four-point star
  const dx = Math.abs(x - cx) / s
  const dy = Math.abs(y - cy) / s
  return Math.sqrt(dx) + Math.sqrt(dy) - 1
}
const GREEN = [16, 163, 127]
function draw(size, { maskable }) {
  const aa = 1.5 / size
  const cover = (d) => Math.min(1, Math.max(0, 0.5 - d / aa))
  return png(size, (px, py) => {
    let x = (px + 0.5) / size
    let y = (py + 0.5) / size
    const bg = maskable ? 1 : cover(roundedBox(x, y, 0.5, 0.5, 0.47, 0.47, 0.2))
    if (maskable) {
      x = 0.5 + (x - 0.5) / 0.8
      y = 0.5 + (y - 0.5) / 0.8
    } // keep the glyph in the safe zone
    const bubble = Math.max(cover(roundedBox(x, y, 0.5, 0.47, 0.27, 0.2, 0.1)), triangle(x, y) < 0 ? 1 : 0)
    const star = cover(sparkle(x, y, 0.5, 0.47, 0.13))
    const white = bubble * (1 - star)
    const r = GREEN[0] + (255 - GREEN[0]) * white
    const g = GREEN[1] + (255 - GREEN[1]) * white
    const b = GREEN[2] + (255 - GREEN[2]) * white
    return [Math.round(r), Math.round(g), Math.round(b), Math.round(255 * bg)]
  })
}

const out = new URL('../public/', import.meta.url)
writeFileSync(new URL('pwa-192.png', out), draw(192, { maskable: false }))
writeFileSync(new URL('pwa-512.png', out), draw(512, { maskable: false }))
writeFileSync(new URL('pwa-maskable-512.png', out), draw(512, { maskable: true }))
writeFileSync(new URL('apple-touch-icon.png', out), draw(180, { maskable: true }))
console.log('icons written to public/')
