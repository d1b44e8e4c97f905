// cri: the CRI v1 gRPC server (RuntimeService + ImageService). Not built yet (issue: CRI daemon).
export {};
