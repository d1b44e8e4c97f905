// taskmanager layer: public door. See docs/architecture.md.
export {};
