/**
 * localStorage helpers for UI preferences only (theme, language, prompts…). Nothing that
 * authenticates ever goes here: the session is an HttpOnly cookie.
 */
const PREFIX = 'chatgate.'

/** Stored values merged over defaults; anything unreadable falls back to the defaults. */
export function loadPref<T extends object>(key: string, defaults: () => T): T {
  const base = defaults()
  try {
    const raw = localStorage.getItem(PREFIX + key)
    if (!raw) return base
    const stored = JSON.parse(raw) as unknown
    if (Array.isArray(base)) return (Array.isArray(stored) ? stored : base) as T
    if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return base
    const merged = { ...base } as Record<string, unknown>
    for (const [k, v] of Object.entries(stored as Record<string, unknown>)) {
      if (k in base && typeof v === typeof (base as Record<string, unknown>)[k]) merged[k] = v
    }
    return merged as T
  } catch {
    return base
  }
}

export function savePref(key: string, value: unknown): void {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value))
  } catch {
    // storage full or disabled (private mode): preferences just do not persist
  }
}

export function removePref(key: string): void {
  try {
    localStorage.removeItem(PREFIX + key)
  } catch {
    // storage disabled: nothing to remove
  }
}
