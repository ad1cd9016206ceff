FROM base
COPY app.txt /app.txt
