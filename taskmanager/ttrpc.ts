// The ttrpc pieces taskmanager uses, imported in one place (proto's ttrpc module).
export { TtrpcClient, TtrpcServer, createServiceClient, socketPathOf, type ServiceClient } from '../proto/ttrpc/index.js';
