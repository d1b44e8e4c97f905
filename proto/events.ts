// The task event registry: topic <-> type URL <-> message class, for every Task* event a shim
// publishes, and the Any/Envelope packing around them.
import { InvalidArgumentError } from '../common/index.js';
import { decodeMessage, packAny } from './any.js';
import { containerd } from './gen/containerd.js';
import type { MessageType, PropsOf } from './message-type.js';

const ev = containerd.events;

/** Topic -> message class, in containerd's order. */
export const TASK_EVENT_TYPES = {
  '/tasks/create': ev.TaskCreate,
  '/tasks/start': ev.TaskStart,
  '/tasks/delete': ev.TaskDelete,
  '/tasks/exit': ev.TaskExit,
  '/tasks/oom': ev.TaskOOM,
  '/tasks/exec-added': ev.TaskExecAdded,
  '/tasks/exec-started': ev.TaskExecStarted,
  '/tasks/paused': ev.TaskPaused,
  '/tasks/resumed': ev.TaskResumed,
  '/tasks/checkpointed': ev.TaskCheckpointed,
} as const;

type EventTypes = typeof TASK_EVENT_TYPES;
export type TaskEventTopic = keyof EventTypes;

/** Topic -> type URL (the bare message name, as containerd 1.6 writes it). */
export const TASK_EVENT_TYPE_URLS: { readonly [K in TaskEventTopic]: string } = {
  '/tasks/create': 'containerd.events.TaskCreate',
  '/tasks/start': 'containerd.events.TaskStart',
  '/tasks/delete': 'containerd.events.TaskDelete',
  '/tasks/exit': 'containerd.events.TaskExit',
  '/tasks/oom': 'containerd.events.TaskOOM',
  '/tasks/exec-added': 'containerd.events.TaskExecAdded',
  '/tasks/exec-started': 'containerd.events.TaskExecStarted',
  '/tasks/paused': 'containerd.events.TaskPaused',
  '/tasks/resumed': 'containerd.events.TaskResumed',
  '/tasks/checkpointed': 'containerd.events.TaskCheckpointed',
};

const TOPIC_OF_TYPE_URL = new Map<string, TaskEventTopic>(
  Object.entries(TASK_EVENT_TYPE_URLS).map(([topic, url]) => [url, topic as TaskEventTopic]),
);

/** An event to publish: topic plus the plain-object message. */
export type TaskEventInput = { [K in TaskEventTopic]: { topic: K; event: PropsOf<EventTypes[K]> } }[TaskEventTopic];

/** A received event: topic plus the decoded message (unset scalars read as their zero). */
export type TaskEvent = { [K in TaskEventTopic]: { topic: K; event: InstanceType<EventTypes[K]> } }[TaskEventTopic];

/** The topic a type URL belongs to, or undefined for a non-task event. */
export function topicOfTypeUrl(typeUrl: string): TaskEventTopic | undefined {
  return TOPIC_OF_TYPE_URL.get(typeUrl);
}

/** An event as the topic and the Any to put in an Envelope. */
export function encodeEvent(input: TaskEventInput): { topic: TaskEventTopic; event: { type_url: string; value: Uint8Array } } {
  const type = TASK_EVENT_TYPES[input.topic] as { encode(m: unknown): { finish(): Uint8Array } } | undefined;
  if (!type) throw new InvalidArgumentError(`unknown task event topic "${String(input.topic)}"`);
  return { topic: input.topic, event: packAny(TASK_EVENT_TYPE_URLS[input.topic], type.encode(input.event).finish()) };
}

/** The event inside an Envelope. Unknown type URLs or a topic that does not match are InvalidArgument. */
export function decodeEnvelopeEvent(envelope: containerd.services.events.ttrpc.v1.Envelope.$Properties): TaskEvent {
  const any = envelope.event;
  if (!any?.type_url) throw new InvalidArgumentError(`envelope ${envelope.topic ?? ''}: no event`);
  const topic = topicOfTypeUrl(any.type_url);
  if (!topic) throw new InvalidArgumentError(`envelope ${envelope.topic ?? ''}: unknown event type "${any.type_url}"`);
  if (envelope.topic !== topic) {
    throw new InvalidArgumentError(`envelope topic "${envelope.topic ?? ''}" does not match event type ${any.type_url}`);
  }
  const type = TASK_EVENT_TYPES[topic] as MessageType<unknown>;
  return { topic, event: decodeMessage(type, any.value ?? new Uint8Array(0), any.type_url) } as TaskEvent;
}
