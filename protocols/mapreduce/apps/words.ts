// Words as the MIT apps see them: maximal runs of Unicode letters (Go's
// strings.FieldsFunc(contents, func(r) bool { return !unicode.IsLetter(r) })).

const LETTER_RUN = /\p{L}+/gu;

export function words(contents: string): string[] {
  return contents.match(LETTER_RUN) ?? [];
}
