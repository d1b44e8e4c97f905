// Types of scripts/cri-fields.mjs for the TypeScript tests that import it.
import type protobuf from 'protobufjs';

export interface CriField { number: number; type: string }
export interface CriMethodShape { request: string; response: string; stream: boolean }
export interface CriShape {
  messages: Record<string, Record<string, CriField>>;
  enums: Record<string, Record<string, number>>;
  services: Record<string, Record<string, CriMethodShape>>;
}
export function describeCri(root: protobuf.Root): CriShape;
export function parseCri(text: string): protobuf.Root;
export function formatCri(doc: object): string;
