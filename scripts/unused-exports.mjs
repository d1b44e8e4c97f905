// Lists the exports of the layers that no other file uses: `node scripts/unused-exports.mjs`
// (a few minutes on 2 cores). For each export of a non-test file it asks TypeScript's language
// service for the references (through re-exports and imports) and prints the file, the name and
// where it is used: NONE (dead), only (self) (drop the `export`), only (reexport) from an
// index.ts (dead behind its door) or only (test) (kept for tests). Types that appear in exported
// signatures may stay exported; the rest is dead code.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); },
});
const files = config.fileNames;
const service = ts.createLanguageService({
  getScriptFileNames: () => files,
  getScriptVersion: () => '0',
  getScriptSnapshot: (f) => (ts.sys.fileExists(f) ? ts.ScriptSnapshot.fromString(ts.sys.readFile(f) ?? '') : undefined),
  getCurrentDirectory: () => root,
  getCompilationSettings: () => config.options,
  getDefaultLibFileName: ts.getDefaultLibFilePath,
  fileExists: ts.sys.fileExists,
  readFile: ts.sys.readFile,
  readDirectory: ts.sys.readDirectory,
  directoryExists: ts.sys.directoryExists,
  getDirectories: ts.sys.getDirectories,
});
const program = service.getProgram();
const checker = program.getTypeChecker();
const isTest = (rel) => /\.test\.ts$|(^|\/)testdata\/|^test\/|^bench\//.test(rel);
const isReexportLine = (line) => /^export (type )?\{|^\s+[\w, ]*,?$|^\s+type \w+,?$/.test(line);

for (const sf of program.getSourceFiles()) {
  const rel = path.relative(root, sf.fileName);
  if (rel.startsWith('..') || rel.startsWith('node_modules') || /\.d\.m?ts$/.test(rel) || rel.startsWith('proto/gen') || isTest(rel)) continue;
  const moduleSymbol = checker.getSymbolAtLocation(sf);
  if (!moduleSymbol) continue;
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const decl = exported.declarations?.[0];
    if (!decl || decl.getSourceFile() !== sf) continue; // a re-export: judged where it is declared
    const name = ts.getNameOfDeclaration(decl) ?? decl;
    const uses = new Set();
    for (const ref of service.findReferences(sf.fileName, name.getStart()) ?? []) {
      for (const r of ref.references) {
        if (r.isDefinition) continue;
        const where = path.relative(root, r.fileName);
        const text = program.getSourceFile(r.fileName)?.text ?? '';
        const line = text.slice(text.lastIndexOf('\n', r.textSpan.start) + 1, text.indexOf('\n', r.textSpan.start));
        if (where.endsWith('index.ts') && isReexportLine(line)) uses.add('(reexport)');
        else uses.add(where === rel ? '(self)' : isTest(where) ? '(test)' : where);
      }
    }
    if ([...uses].every((u) => u.startsWith('('))) console.log(`${rel}\t${exported.name}\t${[...uses].join(',') || 'NONE'}`);
  }
}
