/** Who is signed in and how sign-in works here (GET /api/auth/config). No token is kept: cookies do it. */
import { defineStore } from 'pinia'
import { api, ApiError } from '@/api/client'
import type { AuthConfig, User } from '@/api/types'

export const useAuthStore = defineStore('auth', {
  state: () => ({
    config: null as AuthConfig | null,
    user: null as User | null,
    ready: false,
    initError: null as ApiError | null,
    /** After signing out of an organisation sign-in: the provider's own sign-out page, to offer. */
    endSessionUrl: null as string | null,
  }),
  getters: {
    signedIn: (state) => state.user !== null,
    mode: (state) => state.config?.mode ?? 'accounts',
  },
  actions: {
    async init(force = false): Promise<void> {
      if (this.ready && !force) return
      this.initError = null
      try {
        this.config = await api.auth.config()
        try {
          this.user = await api.auth.me()
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 401) throw err
          this.user = null
        }
        // Open mode: every browser gets its own anonymous user, no form to fill.
        if (!this.user && this.config.mode === 'open') this.user = await api.auth.login({})
      } catch (err) {
        this.initError = err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err))
      } finally {
        this.ready = true
      }
    },
    async login(body: { username?: string; password?: string }): Promise<void> {
      this.user = await api.auth.login(body)
    },
    /** Returns 'pending' when an admin must approve the account first. */
    async register(body: { username: string; password: string; invite_code?: string }): Promise<'active' | 'pending'> {
      const result = await api.auth.register(body)
      if ('status' in result && result.status === 'pending' && !('id' in result)) return 'pending'
      this.user = result as User
      return 'active'
    },
    async setup(body: { token: string; username: string; password: string }): Promise<void> {
      this.user = await api.auth.setup(body)
      if (this.config) this.config.setup_required = false
      // The setup route may or may not sign in; make sure we know.
      try {
        this.user = await api.auth.me()
      } catch {
        await this.login({ username: body.username, password: body.password })
      }
    },
    async logout(): Promise<void> {
      try {
        const result = await api.auth.logout()
        this.endSessionUrl = result?.end_session_url ?? null
      } finally {
        this.user = null
      }
    },
    async changePassword(current: string, next: string): Promise<void> {
      await api.auth.changePassword({ current_password: current, new_password: next })
    },
    /** The session ended elsewhere (logout in another tab, password change, admin action). */
    sessionEnded(): void {
      this.user = null
    },
  },
})
