// Annotation names of the shim v2 contract read by more than one layer (docs/shim.md): a shim
// groups a pod's tasks into one process by the first of these it finds in config.json
// (shim/socket-address.ts), the task manager finds a task's pod shim by them, and the CRI layer
// writes the sandbox id (cri/oci/annotations.ts).
export const GROUP_ANNOTATION = 'io.containerd.runc.v2.group';
export const SANDBOX_ID_ANNOTATION = 'io.kubernetes.cri.sandbox-id';
