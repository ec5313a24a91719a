"""apply: carry out planned actions through the aws boundary; record before, outcome after."""
