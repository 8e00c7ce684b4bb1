declare module 'spdx-expression-parse' {
  function parse (expression: string): unknown
  export default parse
}
declare module 'spdx-correct' {
  function correct (identifier: string): string | null
  export default correct
}
