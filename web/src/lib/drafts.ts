/**
 * What someone was typing, per person and per conversation, in localStorage: it survives a
 * reload, a session that ends under the tab (a sign-out elsewhere, a disabled account) and the
 * sign-in that follows. UI state only — the server never sees a draft. Signing out forgets the
 * person's drafts; only the newest few are kept.
 */
const KEY = 'chatgate.drafts'
const MAX_DRAFTS = 20
const MAX_LENGTH = 100_000

interface Draft {
  text: string
  /** ms since the epoch, to keep the newest. */
  at: number
}

type Drafts = Record<string, Draft>

function keyOf(owner: string, conversationId: string | null): string {
  return `${owner}/${conversationId ?? 'new'}`
}

function read(): Drafts {
  try {
    const raw = localStorage.getItem(KEY)
    const parsed = raw ? (JSON.parse(raw) as unknown) : {}
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Drafts) : {}
  } catch {
    return {}
  }
}

function write(drafts: Drafts): void {
  try {
    if (Object.keys(drafts).length) localStorage.setItem(KEY, JSON.stringify(drafts))
    else localStorage.removeItem(KEY)
  } catch {
    // storage full or disabled: the draft lives as long as the page
  }
}

export function loadDraft(owner: string, conversationId: string | null): string {
  const draft = read()[keyOf(owner, conversationId)]
  return typeof draft?.text === 'string' ? draft.text : ''
}

export function saveDraft(owner: string, conversationId: string | null, text: string, now = Date.now()): void {
  const drafts = read()
  const key = keyOf(owner, conversationId)
  if (!text.trim()) {
    if (!(key in drafts)) return
    delete drafts[key]
  } else {
    drafts[key] = { text: text.slice(0, MAX_LENGTH), at: now }
    const newest = Object.entries(drafts)
      .sort(([, a], [, b]) => b.at - a.at)
      .slice(0, MAX_DRAFTS)
    write(Object.fromEntries(newest))
    return
  }
  write(drafts)
}

/** The person's newest draft (shown on the sign-in page when their session ended under them). */
export function latestDraft(owner: string): string {
  const mine = Object.entries(read())
    .filter(([key]) => key.startsWith(`${owner}/`))
    .sort(([, a], [, b]) => b.at - a.at)
  return mine[0]?.[1].text ?? ''
}

export function forgetDrafts(owner: string): void {
  const drafts = read()
  for (const key of Object.keys(drafts)) if (key.startsWith(`${owner}/`)) delete drafts[key]
  write(drafts)
}

let ended: string | null = null

/** Whose session just ended in this tab (their drafts are offered on the sign-in page). */
export function rememberSessionEnd(owner: string): void {
  ended = owner
}

export function sessionEndedFor(): string | null {
  return ended
}
