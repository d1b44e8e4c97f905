// Types of scripts/eslint-layers.mjs for the TypeScript that imports it (test/layers.test.ts).
import type { Rule } from 'eslint';

export declare const LAYER_RANK: Readonly<Record<string, number>>;
export declare const EXTRA_DOORS: readonly string[];
export declare function isTestFile(rel: string): boolean;
export declare function layerViolation(from: string, spec: string): string | undefined;
export declare const layersRule: Rule.RuleModule;
