"""Figures, formats, files and sentences — what a page, the report and the command line draw or
write, without Streamlit: Plotly figures (``charts*``), numbers and dates in the locale (``format``),
exports (``export``) and the generated sentences (``text``)."""
