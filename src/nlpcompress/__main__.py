from nlpcompress.cli import main

main()
