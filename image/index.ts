// image layer: public door. See docs/architecture.md.
export {};
