/** The signed-in person's profile (name, description, avatar), as the server keeps it. */
import { defineStore } from 'pinia'
import { accountApi, uploadAvatar, type Profile, type ProfilePatch } from '@/api/account'

export const useProfileStore = defineStore('profile', {
  state: () => ({ profile: null as Profile | null }),
  getters: {
    displayName: (state): string => state.profile?.display_name ?? '',
    hasAvatar: (state): boolean => Boolean(state.profile?.avatar_emoji || state.profile?.avatar_url),
  },
  actions: {
    async load(): Promise<void> {
      this.profile = await accountApi.profile()
    },
    async update(patch: ProfilePatch): Promise<void> {
      this.profile = await accountApi.updateProfile(patch)
    },
    async upload(file: Blob): Promise<void> {
      this.profile = await uploadAvatar(file)
    },
    async removeAvatar(): Promise<void> {
      this.profile = await accountApi.removeAvatar()
    },
    reset(): void {
      this.profile = null
    },
  },
})
