"""The staff pages of rehabilitation, one module per kind of record."""

#: Rows on a page of the participant and enrolment lists.
PAGE_SIZE = 50
