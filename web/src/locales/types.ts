import type en from './en-US'

type DeepString<T> = { [K in keyof T]: T[K] extends string ? string : DeepString<T[K]> }

/** Every locale has exactly the keys of en-US. */
export type Messages = DeepString<typeof en>
