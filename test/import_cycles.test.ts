/**
 * The library has no import cycle: modules that import each other back are hard to test alone, and load in an
 * order that depends on who is imported first. Walks the imports and re-exports of every module of lib/, in the
 * TypeScript sources (type-only imports count: a type cycle is still two modules that cannot be read apart) and
 * in the compiled dist/lib (what Node loads).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const distLib = path.resolve(here, "../lib");
const sourceLib = path.resolve(here, "../../lib");

function filesEnding(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return filesEnding(p, ext);
    return name.endsWith(ext) && !name.endsWith(".d.ts") ? [p] : [];
  });
}

/** The import graph of the modules under `dir` (ext ".ts": specifiers "./x.js" name "./x.ts"). */
export function importGraph(dir: string, ext: ".js" | ".ts"): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of filesEnding(dir, ext)) {
    const targets = relativeImports(readFileSync(file, "utf8")).map((spec) => path.resolve(path.dirname(file), ext === ".ts" ? spec.replace(/\.js$/, ".ts") : spec));
    graph.set(file, targets);
  }
  return graph;
}

/** Relative module specifiers a compiled ES module loads: `import … from`, `export … from`, bare `import "…"`, `import("…")`. */
export function relativeImports(source: string): string[] {
  const specs: string[] = [];
  const patterns = [/\b(?:import|export)\s[^;'"]*?\bfrom\s*["']([^"']+)["']/g, /\bimport\s*["']([^"']+)["']/g, /\bimport\(\s*["']([^"']+)["']\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) if (m[1].startsWith(".")) specs.push(m[1]);
  return specs;
}

/** A cycle in the graph as a list of files (first == last), or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test("the cycle finder finds a hand-made cycle and passes a tree", () => {
  assert.deepEqual(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), undefined);
  assert.deepEqual(relativeImports(`import { x } from "./a.js";\nexport { y } from "../b.js";\nimport "./c.js";\nconst m = await import("./d.js");\nimport os from "node:os";`), ["./a.js", "../b.js", "./c.js", "./d.js"]);
});

for (const [name, dir, ext] of [["sources (lib/*.ts, type imports included)", sourceLib, ".ts"], ["compiled modules (dist/lib)", distLib, ".js"]] as const) {
  test(`no import cycle among the ${name}`, () => {
    const graph = importGraph(dir, ext);
    assert.ok(graph.size > 30, `only ${graph.size} modules under ${dir}`);
    const cycle = findCycle(graph);
    assert.equal(cycle, undefined, `import cycle: ${cycle?.map((f) => path.relative(dir, f)).join(" -> ")}`);
  });
}
