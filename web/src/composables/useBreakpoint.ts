/** `isMobile` below 768 px: the sidebar becomes a drawer. */
import { onBeforeUnmount, ref, type Ref } from 'vue'

export function useIsMobile(query = '(max-width: 767px)'): Ref<boolean> {
  const media = window.matchMedia(query)
  const isMobile = ref(media.matches)
  const update = () => {
    isMobile.value = media.matches
  }
  media.addEventListener('change', update)
  onBeforeUnmount(() => media.removeEventListener('change', update))
  return isMobile
}
