/**
 * The person's profile (name, description, avatar) and new-chat defaults, kept on the server so
 * every device of the account shows the same (docs/api.md, "Account").
 */
import { ApiError, errorFromResponse, notifyUnauthenticated, requestJson } from './client'
import type { ConversationSettings } from './types'

export interface Profile {
  display_name: string
  description: string
  avatar_emoji: string | null
  /** Same-origin URL of the re-encoded avatar image, with a version. */
  avatar_url: string | null
  updated_at: string | null
}

/** What a shared conversation shows of its author (null when they set nothing). */
export interface Author {
  display_name: string
  description: string
  avatar_emoji: string | null
  avatar_url: string | null
}

export interface ProfilePatch {
  display_name?: string
  description?: string
  /** '' removes the emoji. */
  avatar_emoji?: string
}

/** Largest avatar upload the server accepts. */
export const AVATAR_MAX_BYTES = 2 * 1024 * 1024

export const accountApi = {
  profile: () => requestJson<Profile>('GET', '/api/account/profile'),
  updateProfile: (patch: ProfilePatch) => requestJson<Profile>('PATCH', '/api/account/profile', patch),
  removeAvatar: () => requestJson<Profile>('DELETE', '/api/account/profile/avatar'),
  defaults: () => requestJson<ConversationSettings>('GET', '/api/account/defaults'),
  saveDefaults: (settings: ConversationSettings) =>
    requestJson<ConversationSettings>('PUT', '/api/account/defaults', settings),
}

/** The body is the image file itself; the server reads its type from its bytes and re-encodes it. */
export async function uploadAvatar(file: Blob): Promise<Profile> {
  let res: Response
  try {
    res = await fetch('/api/account/profile/avatar', {
      method: 'PUT',
      headers: { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' },
      body: file,
      credentials: 'same-origin',
    })
  } catch (err) {
    throw new ApiError(0, 'network_error', (err as Error).message)
  }
  if (!res.ok) {
    if (res.status === 401) notifyUnauthenticated()
    throw await errorFromResponse(res)
  }
  return (await res.json()) as Profile
}
