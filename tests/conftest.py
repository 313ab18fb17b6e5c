import os
import sys

# test helper modules (clitools, expectations) live beside this file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
