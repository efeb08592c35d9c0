/**
 * The small XML layer under SSI stream headers and NOVA .trainer files: parse (with errors that name the file and
 * line), read attributes, list child elements, and escape attribute values for writing.
 *
 * Both formats are plain elements with attributes; no text content matters. Every element is parsed as an array
 * so that "one <chunk>" and "several <chunk>s" look the same to callers, and attributes get a prefix so an
 * attribute can never collide with a child element of the same name.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

const ATTR = "@_";

/** A parsed element: attributes under "@_name", children under their tag name (always arrays). */
export type XmlElement = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  // Attribute values stay text: SSI's delim=" " must survive, and numbers are parsed by the callers, by rule.
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  // Numeric character references (&#9; for a tab in a value) are XML; fast-xml-parser decodes them under this flag.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_tag, _jpath, _isLeaf, isAttribute) => !isAttribute,
});

/**
 * Parses `text` and returns the root element named `rootName`. Accepts documents with or without the
 * `<?xml ...?>` declaration and attributes written `name ="value"` (discover-utils' style).
 */
export function parseXmlRoot(text: string, rootName: string, file: string): XmlElement {
  const check = XMLValidator.validate(text);
  if (check !== true) {
    // fast-xml-parser gives no column for some errors (an empty document).
    const where = check.err.col === undefined ? `line ${check.err.line}` : `line ${check.err.line}, column ${check.err.col}`;
    throw new Error(`${file}: not well-formed XML (${where}): ${check.err.msg}`);
  }
  const doc = parser.parse(text) as XmlElement;
  const roots = Object.keys(doc).filter((k) => !k.startsWith(ATTR) && k !== "#text");
  if (roots.length !== 1 || roots[0] !== rootName) {
    throw new Error(`${file}: expected root element <${rootName}>, found ${roots.length ? roots.map((r) => `<${r}>`).join(", ") : "none"}`);
  }
  const list = doc[rootName] as unknown[];
  return asElement(list[0]);
}

/** An element with no attributes and no children parses as "" (or whitespace text): treat it as empty. */
function asElement(node: unknown): XmlElement {
  return typeof node === "object" && node !== null ? (node as XmlElement) : {};
}

/** The attributes of an element as plain strings. */
export function attributesOf(element: XmlElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(element)) {
    if (key.startsWith(ATTR) && typeof value === "string") out[key.slice(ATTR.length)] = value;
  }
  return out;
}

/** The child elements named `tag`, in document order. */
export function childrenOf(element: XmlElement, tag: string): XmlElement[] {
  const list = element[tag];
  return Array.isArray(list) ? list.map(asElement) : [];
}

/** Escapes text for a double-quoted XML attribute value (whitespace controls as character references so they survive attribute-value normalization). */
export function escapeAttribute(value: string): string {
  return value.replace(/[&<>"\t\n\r]/g, (c) => {
    switch (c) {
      case "&": return "&amp;";
      case "<": return "&lt;";
      case ">": return "&gt;";
      case '"': return "&quot;";
      default: return `&#${c.charCodeAt(0)};`;
    }
  });
}

/** True for names that can be written as an XML attribute name as-is. */
export function isXmlName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name);
}
