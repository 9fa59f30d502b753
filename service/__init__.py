"""What the pages, the command line and the executive report show, assembled from ``data`` and
``kpi`` in one place (no Streamlit here): every figure is computed the same way everywhere."""
