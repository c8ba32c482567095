/** A translated sentence for any error: by the server's stable `code`, plus Retry-After or a quota's reset time. */
import { useI18n } from 'vue-i18n'
import { errorText } from '@/lib/errorText'

export function useErrorText(): (error: unknown) => string {
  const { t, te, locale } = useI18n()
  return (error: unknown) => errorText(error, { t, te, locale: locale.value })
}
