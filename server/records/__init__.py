"""Clinical records and documents: attachments, forms and intake, notes and follow-ups, and the
PDFs rendered from them."""
