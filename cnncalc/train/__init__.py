"""Training: CIFAR-10 lab experiments on any device, without Streamlit (torch imported by the modules)."""
