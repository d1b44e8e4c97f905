/** containerd's CRI namespace: every task berth's CRI makes lives in it. */
export const CRI_NAMESPACE = 'k8s.io';
