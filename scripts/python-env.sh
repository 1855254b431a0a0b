# Sourced by the other scripts: picks the Python interpreter the project is installed into.
# A project virtual environment (.venv, made by setup.sh where the system Python is
# "externally managed", PEP 668) wins over $PYTHON, which defaults to python3.
if [ -x .venv/bin/python ]; then
  PYTHON="$PWD/.venv/bin/python"
  export PATH="$PWD/.venv/bin:$PATH"
else
  PYTHON="${PYTHON:-python3}"
fi
export PYTHON
