"""The field map: proposal, the workbook a person confirms, and the confirmation gate."""
